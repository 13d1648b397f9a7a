-- Top N and "my votes" without sorting whole tables: the score becomes a
-- stored column (existing rows get theirs computed here) with an index in the
-- Top N order, and each user's votes get an index in newest-first order.

ALTER TABLE songs ADD COLUMN score bigint GENERATED ALWAYS AS (up - down) STORED;

CREATE INDEX songs_top ON songs (model_release, score DESC, up DESC, song_key ASC);

CREATE INDEX votes_user_recent ON votes (user_id, model_release, voted_at DESC, song_key DESC);
