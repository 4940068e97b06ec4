DROP INDEX tasks_created;
DROP INDEX tournaments_track_status;
ALTER TABLE tournaments DROP COLUMN track;
