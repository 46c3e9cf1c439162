// ServiceException: the one error type of the upstream Thrift IDL. Only an
// error's name and message cross a service boundary, so the error code is
// carried in the name's place as a property for local use and in the text.
export const ErrorCode = Object.freeze({
  SE_CONNPOOL_TIMEOUT: 0,
  SE_THRIFT_CONN_ERROR: 1,
  SE_UNAUTHORIZED: 2,
  SE_MEMCACHED_ERROR: 3,
  SE_MONGODB_ERROR: 4,
  SE_REDIS_ERROR: 5,
  SE_THRIFT_HANDLER_ERROR: 6,
  SE_RABBITMQ_CONN_ERROR: 7,
});

export class ServiceException extends Error {
  constructor(errorCode, message) {
    super(message);
    this.name = "ServiceException";
    this.errorCode = errorCode;
  }
}

export function handlerError(message) {
  return new ServiceException(ErrorCode.SE_THRIFT_HANDLER_ERROR, message);
}
