"""Classification of what libvirt answers to a guest agent command.

Pure code over libvirt's numeric error codes and domains (virerror.h), so it
is tested without libvirt. Measured answers are in doc/ and in the test bed
notes; the mapping is:

* agent timed out: a miss; agent not connected: disconnected (a miss);
* the agent's own error (code 113; before libvirt 9.x an internal error
  "unable to execute QEMU agent command"): the agent answered, it is alive;
* domain paused or shut off: not running (a state change, not a miss);
* domain gone: gone;
* agent not configured, or no agent support in the driver: not monitored;
* "cannot acquire state change lock": busy, someone else holds the agent;
* RPC failures: the connection, not the guest;
* anything else: an error, logged with its code and counted as a miss.

libvirt's messages are read here and nowhere else.
"""

from masakari_introspect.core.model import Outcome

# virErrorNumber
ERR_INTERNAL_ERROR = 1
ERR_NO_SUPPORT = 3
ERR_NO_CONNECT = 5
ERR_INVALID_CONN = 6
ERR_INVALID_DOMAIN = 7
ERR_SYSTEM_ERROR = 38
ERR_NO_DOMAIN = 42
ERR_OPERATION_INVALID = 55
ERR_OPERATION_TIMEOUT = 68
ERR_ARGUMENT_UNSUPPORTED = 74
ERR_AGENT_UNRESPONSIVE = 86
ERR_AGENT_UNSYNCED = 97
ERR_AGENT_COMMAND_TIMEOUT = 112   # newer libvirt; 86 before
ERR_AGENT_COMMAND_FAILED = 113    # newer libvirt

# virErrorDomain
FROM_RPC = 7
FROM_REMOTE = 13

_BY_CODE = {
    ERR_AGENT_UNRESPONSIVE: Outcome.MISS,
    ERR_AGENT_UNSYNCED: Outcome.MISS,
    ERR_AGENT_COMMAND_TIMEOUT: Outcome.MISS,
    ERR_OPERATION_INVALID: Outcome.NOT_RUNNING,
    ERR_NO_DOMAIN: Outcome.GONE,
    ERR_INVALID_DOMAIN: Outcome.GONE,
    ERR_ARGUMENT_UNSUPPORTED: Outcome.NOT_CONFIGURED,
    ERR_NO_SUPPORT: Outcome.NOT_CONFIGURED,
    ERR_OPERATION_TIMEOUT: Outcome.BUSY,
    ERR_NO_CONNECT: Outcome.CONNECTION,
    ERR_INVALID_CONN: Outcome.CONNECTION,
}


# What libvirt says in the message of such errors.
_NOT_CONNECTED = 'not connected'
_AGENT_FAILED = 'unable to execute QEMU agent command'


def classify(code: int | None, domain: int | None,
             message: str = '') -> Outcome:
    """The outcome of a failed guest-ping, from libvirt's error."""
    if domain in (FROM_RPC, FROM_REMOTE):
        return Outcome.CONNECTION
    if code is None:
        return Outcome.ERROR
    if code == ERR_AGENT_COMMAND_FAILED or (
            code == ERR_INTERNAL_ERROR and _AGENT_FAILED in message):
        return Outcome.AGENT_ERROR
    outcome = _BY_CODE.get(code, Outcome.ERROR)
    if outcome is Outcome.MISS and _NOT_CONNECTED in message:
        return Outcome.DISCONNECTED
    return outcome


def is_connection_error(code: int | None, domain: int | None) -> bool:
    return classify(code, domain) is Outcome.CONNECTION
