"""Worker process: the RQ worker class, the job function, runners (load once, run per job), video I/O, hooks."""
