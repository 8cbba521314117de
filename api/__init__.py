"""HTTP handlers named by the operationIds of swagger.yml, and the HTTP plumbing around them."""
