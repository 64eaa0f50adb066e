from tests.loadtest.fake_twilio import fake_twilio

__all__ = ["fake_twilio"]
