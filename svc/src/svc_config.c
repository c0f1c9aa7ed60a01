#include "svc_classes.h"
