-- What the evaluation of a successful training said beside its value, as JSON (domain EvalFacts):
-- is_finetune, the time the output was collected (which decides exact duplicates), and GRPO's rewards
-- per reward function and KL divergence (normalised across the task's repositories when it is scored).
-- NULL for trainings that have not succeeded, and for those scored before this column existed.
-- Keep in step with the other backend's migration.
ALTER TABLE trainings ADD COLUMN evaluation TEXT;
-- The same facts as a trainer node keeps them for the run it evaluated, and reports to its validator.
ALTER TABLE node_tasks ADD COLUMN evaluation TEXT;
