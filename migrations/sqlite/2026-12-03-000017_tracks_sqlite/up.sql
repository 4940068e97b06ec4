-- Tracks: a tournament belongs to a named tournament line; tournaments made before tracks belong to
-- their type's default track, named after the type.
ALTER TABLE tournaments ADD COLUMN track TEXT NOT NULL DEFAULT '';
UPDATE tournaments SET track = tournament_type;
CREATE INDEX tournaments_track_status ON tournaments (track, status);
-- Boss rounds look for proven tasks among the newest ones: walked from this index, newest first.
CREATE INDEX tasks_created ON tasks (created_at);
