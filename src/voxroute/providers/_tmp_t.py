from pipecat.services.llm_service import LLMService
from pipecat.services.openai.llm import OpenAILLMService
def f(x: OpenAILLMService) -> LLMService:
    return x
reveal_type(OpenAILLMService.__mro__)
