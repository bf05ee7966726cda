#include "mcpgw/mcp/types.h"
