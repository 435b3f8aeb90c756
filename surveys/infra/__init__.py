"""Plumbing of the collection side: database, migrations, mail, web security, languages, backups,
password policy and the instrument library. Imports nothing else of ours but `instruments`."""
