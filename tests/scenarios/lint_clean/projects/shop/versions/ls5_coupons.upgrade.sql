-- upgrade of revision ls5: coupons
-- lint: accept update-without-where: every existing customer gets the launch tier on purpose
CREATE TABLE coupons (id INTEGER PRIMARY KEY, code VARCHAR(20) NOT NULL);
UPDATE customers SET tier = 'launch';
