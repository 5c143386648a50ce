"""The modelserve Kopf operator."""
