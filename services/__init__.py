"""Domain logic, free of HTTP: each module owns one area and raises services.errors on refusal."""
