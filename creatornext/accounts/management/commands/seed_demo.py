from django.core.management.base import BaseCommand

from creatornext.accounts.demo import seed_demo


class Command(BaseCommand):
    help = "Create the demo creator, fan, brand member and staff user (safe to run twice)."

    def handle(self, *args, **options):
        created = seed_demo()
        if created:
            self.stdout.write(f"Demo data created: {', '.join(created)}")
        else:
            self.stdout.write("Demo data already present.")
