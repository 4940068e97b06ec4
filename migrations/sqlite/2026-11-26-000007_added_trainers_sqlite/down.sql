DROP TABLE added_trainers;
