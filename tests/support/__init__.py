"""What the tests share besides fixtures: stacks, clients, servers, factories, backdoor reads of state."""
