"""Domain services shared by the patient and staff pages (and read by `reports`): the models,
protocols and schedules, enrollment, links, responses, alerts, audit, accounts and reminders.
Services take a session, flush and never commit; they import no blueprint."""
