-- A balance is never negative: fees are debited with a conditional update, and the table refuses a
-- negative balance whatever writes it. SQLite cannot add a constraint to a table, so the table is
-- rebuilt with its rows. Keep in step with the other backend's migration.
CREATE TABLE coldkey_balances_checked (
    coldkey TEXT PRIMARY KEY NOT NULL,
    balance_rao BIGINT NOT NULL CHECK (balance_rao >= 0)
);
INSERT INTO coldkey_balances_checked (coldkey, balance_rao) SELECT coldkey, balance_rao FROM coldkey_balances;
DROP TABLE coldkey_balances;
ALTER TABLE coldkey_balances_checked RENAME TO coldkey_balances;
