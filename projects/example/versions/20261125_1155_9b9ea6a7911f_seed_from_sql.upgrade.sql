-- upgrade of revision 9b9ea6a7911f: seed from sql
-- Plain SQL, run statement by statement (split on ';') by runner.sql_files.
CREATE TABLE greeting (
    id INTEGER NOT NULL PRIMARY KEY,
    text VARCHAR(200) NOT NULL
);

INSERT INTO greeting (id, text) VALUES (1, 'written by a DBA in plain SQL');

