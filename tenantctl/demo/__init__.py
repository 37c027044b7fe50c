"""Sample data to try the platform with: a master, the plans and three tenants with their customers."""
