-- downgrade of revision ls5: coupons
UPDATE customers SET tier = 'basic' WHERE tier = 'launch';
DROP TABLE coupons;
