/* pqmsg.h - PostgreSQL protocol 3.0 message codes, startup codes and the SQLSTATEs pgpin sends. */
#ifndef PGPIN_PQMSG_H
#define PGPIN_PQMSG_H

/* Frontend (client -> server) */
#define PqMsg_Query           'Q'
#define PqMsg_Parse           'P'
#define PqMsg_Bind            'B'
#define PqMsg_Execute         'E'
#define PqMsg_Describe        'D'
#define PqMsg_Close           'C'
#define PqMsg_Flush           'H'
#define PqMsg_Sync            'S'
#define PqMsg_Terminate       'X'
#define PqMsg_FunctionCall    'F'
#define PqMsg_CopyData        'd'
#define PqMsg_CopyDone        'c'
#define PqMsg_CopyFail        'f'
#define PqMsg_PasswordMessage 'p'

/* Backend (server -> client) */
#define PqMsg_Authentication           'R'
#define PqMsg_BackendKeyData           'K'
#define PqMsg_BindComplete             '2'
#define PqMsg_CloseComplete            '3'
#define PqMsg_CommandComplete          'C'
#define PqMsg_CopyInResponse           'G'
#define PqMsg_CopyOutResponse          'H'
#define PqMsg_CopyBothResponse         'W'
#define PqMsg_DataRow                  'D'
#define PqMsg_EmptyQueryResponse       'I'
#define PqMsg_ErrorResponse            'E'
#define PqMsg_FunctionCallResponse     'V'
#define PqMsg_NegotiateProtocolVersion 'v'
#define PqMsg_NoData                   'n'
#define PqMsg_NoticeResponse           'N'
#define PqMsg_NotificationResponse     'A'
#define PqMsg_ParameterDescription     't'
#define PqMsg_ParameterStatus          'S'
#define PqMsg_ParseComplete            '1'
#define PqMsg_PortalSuspended          's'
#define PqMsg_ReadyForQuery            'Z'
#define PqMsg_RowDescription           'T'

/* Startup packet codes (the int32 after the length) */
#define PQ_PROTOCOL_3_0 196608 /* 3 << 16 */
#define PQ_CANCEL_CODE  80877102
#define PQ_SSL_CODE     80877103
#define PQ_GSSENC_CODE  80877104

/* Authentication request codes */
#define PQ_AUTH_OK 0

/* Size limits, as Postgres's own (PQ_SMALL_MESSAGE_LIMIT / PQ_LARGE_MESSAGE_LIMIT). */
#define PQ_STARTUP_MAX   10000
#define PQ_SMALL_MSG_MAX 10000
#define PQ_LARGE_MSG_MAX (0x3fffffff - 1)

/* SQLSTATEs pgpin itself sends */
#define SQLSTATE_PROTOCOL_VIOLATION    "08P01"
#define SQLSTATE_CONNECTION_FAILURE    "08006"
#define SQLSTATE_CANNOT_CONNECT_NOW    "57P03"
#define SQLSTATE_READ_ONLY_TX          "25006" /* read_only_sql_transaction */
#define SQLSTATE_ADMIN_SHUTDOWN        "57P01"
#define SQLSTATE_INVALID_CATALOG_NAME  "3D000"
#define SQLSTATE_INVALID_PASSWORD      "28P01"
#define SQLSTATE_INVALID_AUTH_SPEC     "28000"
#define SQLSTATE_TOO_MANY_CONNECTIONS  "53300"
#define SQLSTATE_FEATURE_NOT_SUPPORTED "0A000"
#define SQLSTATE_QUERY_CANCELED        "57014"
#define SQLSTATE_WRITE_WAIT            "53400" /* configuration_limit_exceeded: write_max_wait */
#define SQLSTATE_INTERNAL_ERROR        "XX000"
#define SQLSTATE_NO_PRIVILEGE          "42501"
#define SQLSTATE_SYNTAX_ERROR          "42601"
#define SQLSTATE_PROGRAM_LIMIT         "54000"
#define SQLSTATE_OBJECT_STATE          "55000"
#define SQLSTATE_CONFIG_FILE_ERROR     "F0000"

#endif
