"""One reconciler per kind: build the desired children, apply them, observe, report status."""
