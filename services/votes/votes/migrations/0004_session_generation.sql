-- Revocable sessions. Every session cookie the website makes names the account's
-- session generation at sign-in; sign-out, a password change and deletion move it on
-- (or remove the row), which ends every session made before, on every device. It
-- starts at 1, so a cookie without one (0) never matches.
ALTER TABLE users ADD COLUMN session_generation bigint NOT NULL DEFAULT 1;
