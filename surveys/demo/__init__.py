"""The synthetic demo cohort (`flask --app app demo`): plans (who the patients are), the writer
(their rows), tokens (demo secrets) and the loader (study, logins, cohort). Nothing is real."""

from surveys.demo.loader import DEMO_USERS, STUDY_CODE, load_demo
from surveys.demo.tokens import demo_token, demo_totp_secret

__all__ = ["DEMO_USERS", "STUDY_CODE", "demo_token", "demo_totp_secret", "load_demo"]
