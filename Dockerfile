# Production image: gunicorn (web), Celery worker and beat all run from this image.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

RUN useradd --create-home --uid 1000 app
COPY pyproject.toml README.md ./
COPY creatornext ./creatornext
COPY tips ./tips
COPY gifts ./gifts
COPY marketplace ./marketplace
COPY eligibility ./eligibility
RUN pip install .
COPY manage.py ./
COPY templates ./templates
COPY static ./static
# collectstatic needs settings but no secrets or database.
RUN SECRET_KEY=collectstatic-only CREATORNEXT_VAR_DIR=/tmp/var python manage.py collectstatic --noinput

# CREATORNEXT_VAR_DIR in docker-compose.yml: a volume shared by web and worker (the search index).
RUN mkdir -p /var/lib/creatornext && chown app:app /var/lib/creatornext

USER app
EXPOSE 8000
CMD ["gunicorn", "creatornext.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
