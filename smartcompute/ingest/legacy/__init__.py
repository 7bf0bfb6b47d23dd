"""`smartcompute import legacy`: the old single-machine SmartCompute's SQLite database and JSON files, read
(`sqlite_source`, `json_source`), turned into hosts, baselines and finished jobs (`plan`), and written in one
transaction (`writer`)."""
