-- downgrade of revision 9b9ea6a7911f: seed from sql
-- Plain SQL, run statement by statement (split on ';') by runner.sql_files.
DROP TABLE greeting;

