"""People. The custom User exists from the first migration so it can grow without a data move."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    # Given at sign-up; drives the 18+ checks. Null only for staff created from the command line.
    date_of_birth = models.DateField(null=True, blank=True)
