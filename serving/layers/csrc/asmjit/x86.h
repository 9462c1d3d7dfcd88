// See core.h: a stand-in for asmjit's header.
#pragma once
#include "core.h"
