DROP INDEX transitions_at;
DROP TABLE meta;
