/* SwiftPM needs one source file in a C target; the module's content is the
 * header include/drip_agent_format.h (the agent's table layout). */
#include "drip_agent_format.h"
