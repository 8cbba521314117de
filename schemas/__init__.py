"""marshmallow schemas: what the spec cannot express (normalisation, cross-field rules) and representations."""
