"""The prompt used for any env without a template of its own."""

from splitsecond.agents.prompts.template import PromptTemplate

GENERIC = PromptTemplate(
    role="You are an agent acting in a real-time environment: the world keeps moving while you think.",
    version="generic-1",
)
