# The image a Vertex AI stack's jobs run: the team's pipeline code and Flowsite's remote runner.
#
# Build it from a checkout holding both, at the commit the control plane's workers run (the runner
# refuses to run a pipeline whose code version, or a Flowsite whose version, differs from what the run
# asked for, and says which two it found):
#
#   docker build -f deploy/vertex-runner.Dockerfile \
#       --build-arg PIPELINES=examples --build-arg REQUIREMENTS=examples/requirements.txt \
#       -t europe-docker.pkg.dev/PROJECT/REPO/flowsite-runner:$(git rev-parse --short HEAD) .
#   docker push europe-docker.pkg.dev/PROJECT/REPO/flowsite-runner:$(git rev-parse --short HEAD)
#
# then set the stack's `image` to that tag. The job's command is `python -m flowsite.remote`.
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim

# The folder (a Python package) holding the modules FLOWSITE_PIPELINES names, and the file listing
# what they import (numpy, pandas, ...); an empty file if they need nothing.
ARG PIPELINES=examples
ARG REQUIREMENTS=deploy/runner-requirements.txt

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# The runner itself needs only the standard library, Flowsite's engine and, for gs:// artifacts,
# google-cloud-storage (the version the control plane pins).
COPY deploy/runner-requirements.txt /tmp/runner-requirements.txt
COPY ${REQUIREMENTS} /tmp/pipeline-requirements.txt
RUN pip install -r /tmp/runner-requirements.txt -r /tmp/pipeline-requirements.txt

COPY flowsite/ /app/flowsite/
COPY ${PIPELINES}/ /app/${PIPELINES}/

# Jobs run as this user; the stack's service account is what the job may do in Google Cloud.
RUN useradd --create-home --uid 10001 runner
USER runner

CMD ["python", "-m", "flowsite.remote"]
