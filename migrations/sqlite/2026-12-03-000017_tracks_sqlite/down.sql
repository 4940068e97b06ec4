DROP INDEX tournaments_track_status;
ALTER TABLE tournaments DROP COLUMN track;
