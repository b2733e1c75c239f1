/* The part of c/shmbus.h that the Python package calls (cffi cdef syntax: no preprocessor). */
const char* shmbus_strerror(int err);
const char* shmbus_error_code(int err);
const char* shmbus_last_error_message(void);
