"""What accounts tells the feature apps (which it must not import).

``account_deleted(user=...)``: sent by ``services.account_delete`` inside its transaction, after the
user and creator rows are pseudonymised, so a receiver's writes commit or roll back with the
deletion. A feature app that keeps personal data of its own (the marketplace profile's bio)
forgets it there.
"""

from django.dispatch import Signal

account_deleted = Signal()
