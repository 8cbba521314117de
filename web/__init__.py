"""Pages a person reaches from the links in mails: confirm an email address, choose a new password."""
