"""A tenant's end users and what they buy: users, subscriptions, transactions, traffic, bot plans, cards."""
