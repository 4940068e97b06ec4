CREATE TABLE coldkey_balances_unchecked (
    coldkey TEXT PRIMARY KEY NOT NULL,
    balance_rao BIGINT NOT NULL
);
INSERT INTO coldkey_balances_unchecked (coldkey, balance_rao) SELECT coldkey, balance_rao FROM coldkey_balances;
DROP TABLE coldkey_balances;
ALTER TABLE coldkey_balances_unchecked RENAME TO coldkey_balances;
