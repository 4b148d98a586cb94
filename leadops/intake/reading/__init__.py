"""Reading lead and activity files: one reader per kind of file (:mod:`.delimited`, :mod:`.json_lines`),
chosen by the file's extension in :mod:`.registry`; rows, streams and the rejection of a whole file in
:mod:`.rows`. No Prefect, no SQLAlchemy."""
