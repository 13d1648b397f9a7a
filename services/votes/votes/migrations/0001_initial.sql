-- Accounts, durable songs and votes.
--
-- Song ids are uint64 but PostgreSQL's bigint is signed, so a song id is
-- stored as song_id - 2^63 (the "offset" mapping, see votes/songids.py):
-- it fits bigint, keeps 8-byte keys, and keeps the order of the ids, so
-- "ORDER BY song_key" is "ORDER BY song id" for the Top N tie-break.

CREATE TABLE users (
    user_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- As the user typed it; shown back to them.
    username      text NOT NULL,
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
-- Names are ASCII (checked by the service), so lower() is an exact case fold.
CREATE UNIQUE INDEX users_username_lower ON users (lower(username));

-- The durable copy of every song someone voted on, with its counts. The
-- counts change in the same transaction as the vote row, under this row's lock.
CREATE TABLE songs (
    model_release text   NOT NULL,
    song_key      bigint NOT NULL,
    title         text   NOT NULL,
    lyrics        text   NOT NULL,
    up            bigint NOT NULL DEFAULT 0 CHECK (up >= 0),
    down          bigint NOT NULL DEFAULT 0 CHECK (down >= 0),
    stored_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model_release, song_key)
);

CREATE TABLE votes (
    user_id       bigint   NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    model_release text     NOT NULL,
    song_key      bigint   NOT NULL,
    -- +1 up, -1 down; withdrawing a vote deletes the row.
    vote          smallint NOT NULL CHECK (vote IN (-1, 1)),
    voted_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, model_release, song_key),
    FOREIGN KEY (model_release, song_key) REFERENCES songs (model_release, song_key)
);
