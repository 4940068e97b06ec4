-- A balance is never negative: fees are debited with a conditional update, and the table refuses a
-- negative balance whatever writes it. Keep in step with the other backend's migration.
ALTER TABLE coldkey_balances ADD CONSTRAINT coldkey_balances_not_negative CHECK (balance_rao >= 0);
