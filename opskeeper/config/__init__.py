"""The estate model: pydantic models of customers, contracts, runbooks, drills and secrets; loader with file:line errors."""
