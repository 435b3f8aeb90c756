"""The staff pages: login and two-factor, studies, patients, sessions, links, worklist, the alert
queue, the audit trail, and the staff command line."""
