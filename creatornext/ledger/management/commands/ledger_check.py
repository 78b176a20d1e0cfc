from django.core.management.base import BaseCommand, CommandError

from creatornext.ledger.checks import ledger_check
from creatornext.ledger.models import Account, Entry, Transaction


class Command(BaseCommand):
    help = ("Prove the ledger: every transaction sums to zero per asset, every cached balance equals "
            "the sum of its entries. Exits non-zero naming each problem.")

    def handle(self, *args, **options):
        problems = ledger_check()
        if problems:
            for problem in problems:
                self.stderr.write(problem)
            raise CommandError(f"ledger_check: {len(problems)} problem(s).")
        self.stdout.write(
            f"ledger_check: OK ({Transaction.objects.count()} transactions, "
            f"{Entry.objects.count()} entries, {Account.objects.count()} accounts)")
