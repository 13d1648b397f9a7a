-- A vote in one round trip: the vote transaction (votes/store.py, Store.cast_vote)
-- as one function, called as a single statement in autocommit, so the statement
-- is its own transaction. The steps are those the service used to send one by
-- one: the same lock order as delete_account (the user row FOR KEY SHARE, then
-- the song row FOR UPDATE), and, the function being VOLATILE under READ
-- COMMITTED, each statement sees what committed before it, so concurrent voters
-- on one song still queue on its row lock and no vote is lost or counted twice.
--
-- Errors a client caused carry their own SQLSTATE: no_data_found (P0002) for an
-- unknown account, invalid_parameter_value (22023) for a first vote without a title.

CREATE FUNCTION cast_vote(p_user bigint, p_release text, p_song bigint, p_vote smallint,
                          p_title text, p_lyrics text,
                          OUT new_up bigint, OUT new_down bigint, OUT new_mine smallint,
                          OUT was_changed boolean)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    old_vote smallint;
BEGIN
    PERFORM 1 FROM users WHERE user_id = p_user FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no account with user_id %', p_user USING ERRCODE = 'no_data_found';
    END IF;

    SELECT s.up, s.down INTO new_up, new_down FROM songs s
     WHERE s.model_release = p_release AND s.song_key = p_song FOR UPDATE;
    IF NOT FOUND THEN
        IF p_vote = 0 THEN
            new_up := 0; new_down := 0; new_mine := 0; was_changed := false;
            RETURN;
        END IF;
        IF p_title = '' THEN
            RAISE EXCEPTION 'title is required with the first vote on a song (it is stored durably)'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        INSERT INTO songs (model_release, song_key, title, lyrics) VALUES (p_release, p_song, p_title, p_lyrics)
            ON CONFLICT DO NOTHING;
        SELECT s.up, s.down INTO new_up, new_down FROM songs s
         WHERE s.model_release = p_release AND s.song_key = p_song FOR UPDATE;
    END IF;

    SELECT v.vote INTO old_vote FROM votes v
     WHERE v.user_id = p_user AND v.model_release = p_release AND v.song_key = p_song;
    old_vote := coalesce(old_vote, 0);
    new_mine := p_vote;
    IF old_vote = p_vote THEN
        was_changed := false;
        RETURN;
    END IF;

    IF p_vote = 0 THEN
        DELETE FROM votes WHERE user_id = p_user AND model_release = p_release AND song_key = p_song;
    ELSIF old_vote = 0 THEN
        INSERT INTO votes (user_id, model_release, song_key, vote) VALUES (p_user, p_release, p_song, p_vote);
    ELSE
        UPDATE votes SET vote = p_vote, voted_at = now()
         WHERE user_id = p_user AND model_release = p_release AND song_key = p_song;
    END IF;
    new_up := new_up + (p_vote = 1)::int - (old_vote = 1)::int;
    new_down := new_down + (p_vote = -1)::int - (old_vote = -1)::int;
    UPDATE songs SET up = new_up, down = new_down WHERE model_release = p_release AND song_key = p_song;
    was_changed := true;
END
$$;
