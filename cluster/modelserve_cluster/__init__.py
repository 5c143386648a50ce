"""A local Kubernetes cluster built from real components, for tests and the quickstart."""
