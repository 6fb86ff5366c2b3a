"""Pure routing: names, the routing table built from watched objects, replica choice."""
