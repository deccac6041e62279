-- upgrade of revision hn2
CREATE TABLE prices (id INTEGER PRIMARY KEY);
